// csi-register: the one job of a CSI node-driver-registrar, for the rig's real node.
//
// The kubelet's plugin watcher looks for unix sockets in <kubelet root>/plugins_registry,
// calls GetInfo on each (k8s.io/kubelet pluginregistration v1) and, for Type "CSIPlugin",
// registers the named driver with the CSI endpoint it was told, then reports the outcome with
// NotifyRegistrationStatus. kubernetes-csi's node-driver-registrar is not served by the Go
// module proxy, so this small server stands in for it.
//
//	csi-register -driver-name csi.spiffe.io -csi-endpoint /path/csi.sock -registration-dir <root>/plugins_registry
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type registration struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
	versions       []string
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	log.Printf("kubelet asked for plugin info; answering %s at %s", r.name, r.endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.name,
		Endpoint:          r.endpoint,
		SupportedVersions: r.versions,
	}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if s.PluginRegistered {
		log.Printf("kubelet registered %s", r.name)
	} else {
		log.Printf("kubelet refused %s: %s", r.name, s.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

func main() {
	name := flag.String("driver-name", "", "CSI driver name (as in the CSIDriver object)")
	endpoint := flag.String("csi-endpoint", "", "path of the driver's CSI socket, as the kubelet sees it")
	dir := flag.String("registration-dir", "", "the kubelet's plugins_registry directory")
	flag.Parse()
	if *name == "" || *endpoint == "" || *dir == "" {
		log.Fatal("-driver-name, -csi-endpoint and -registration-dir are required")
	}
	sock := filepath.Join(*dir, *name+"-reg.sock")
	if err := os.Remove(sock); err != nil && !os.IsNotExist(err) {
		log.Fatalf("removing stale %s: %v", sock, err)
	}
	lis, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatalf("listen %s: %v", sock, err)
	}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &registration{name: *name, endpoint: *endpoint, versions: []string{"1.0.0"}})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		srv.Stop()
	}()
	log.Printf("serving registration for %s on %s", *name, sock)
	if err := srv.Serve(lis); err != nil {
		log.Printf("serve: %v", err)
	}
	_ = os.Remove(sock)
}
