// csi-register: the one job of a CSI node-driver-registrar, for the rig's real nodes.
//
// The kubelet's plugin watcher looks for unix sockets in its plugins_registry directory,
// calls GetInfo on each (k8s.io/kubelet pluginregistration v1) and, for Type "CSIPlugin",
// registers the named driver with the CSI endpoint it was told, then reports the outcome with
// NotifyRegistrationStatus. kubernetes-csi's node-driver-registrar is not served by the Go
// module proxy, so this small server stands in for it. It takes node-driver-registrar's flags,
// so the action's agent DaemonSet runs it unmodified through the csi-node-driver-registrar-image
// input, under the rig's own image name (never upstream's):
//
//	csi-register -csi-address /csi/csi.sock -kubelet-registration-path /var/lib/kubelet/plugins/<driver>/csi.sock
//
// Like the upstream registrar, it asks the driver for its name (CSI Identity GetPluginInfo).
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
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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

// driverName asks the CSI driver at addr for its name, retrying while the driver starts.
func driverName(addr string) string {
	conn, err := grpc.NewClient("unix://"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("CSI address %s: %v", addr, err)
	}
	defer conn.Close()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil && info.GetName() != "" {
			return info.GetName()
		}
		if attempt%10 == 1 {
			log.Printf("waiting for the CSI driver at %s: %v", addr, err)
		}
		time.Sleep(time.Second)
	}
}

func main() {
	csiAddress := flag.String("csi-address", "", "path of the driver's CSI socket, as this process sees it")
	endpoint := flag.String("kubelet-registration-path", "", "path of the driver's CSI socket, as the kubelet sees it")
	dir := flag.String("plugin-registration-path", "/registration", "the kubelet's plugins_registry directory")
	name := flag.String("driver-name", "", "driver name; empty asks the driver (GetPluginInfo)")
	flag.Parse()
	if *endpoint == "" || (*csiAddress == "" && *name == "") {
		log.Fatal("-kubelet-registration-path and one of -csi-address or -driver-name are required")
	}
	if *name == "" {
		*name = driverName(*csiAddress)
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
