// cert-manager-controller for the test rig: the real cert-manager v1.15.1
// controllers (from the main module's pkg/controller), wired by our own small
// main because the proxy does not serve the cmd/controller submodule.
//
// It runs only what SelfSigned and CA issuance needs, against one cluster
// given by --kubeconfig, with no leader election, and no metrics or health
// listeners unless asked for, so two copies (one per rig cluster) can run on
// one host.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/utils/clock"

	"github.com/cert-manager/cert-manager/pkg/acme/accounts"
	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/metrics"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// Each controller and issuer package registers itself from init();
	// only the imported ones exist in controllerpkg.Known().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// version is the cert-manager module version this binary is built from; the
// build script checks `--version` against it.
const version = "v1.15.1"

// Same values as the upstream defaults (internal/apis/config/controller/v1alpha1).
var copiedAnnotationPrefixes = []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"}

const workersPerController = 5

type options struct {
	kubeconfig               string
	master                   string
	clusterResourceNamespace string
	controllers              []string
	qps                      float32
	burst                    int
	enableOwnerRef           bool
	metricsAddress           string
	showVersion              bool
	logging                  *logsapi.LoggingConfiguration
}

func main() {
	logf.InitLogs()
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, pflag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(2)
	}
	if opts.showVersion {
		fmt.Println("cert-manager-controller (rig build of cert-manager)", version)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	err = run(ctx, opts)
	logf.FlushLogs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	known := sortedKnown()
	opts := &options{logging: logsapi.NewLoggingConfiguration()}
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to manage (required)")
	fs.StringVar(&opts.master, "master", "", "API server URL, overriding the kubeconfig's")
	fs.StringVar(&opts.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager",
		"namespace holding the Secrets that ClusterIssuers refer to (e.g. a CA issuer's key pair)")
	fs.StringSliceVar(&opts.controllers, "controllers", known,
		"controllers to run; all of them by default (known: "+strings.Join(known, ", ")+")")
	fs.Float32Var(&opts.qps, "kube-api-qps", 20, "client QPS towards the API server")
	fs.IntVar(&opts.burst, "kube-api-burst", 50, "client burst towards the API server")
	fs.BoolVar(&opts.enableOwnerRef, "enable-certificate-owner-ref", false,
		"make each Certificate the owner of its Secret (as the upstream flag)")
	fs.StringVar(&opts.metricsAddress, "metrics-listen-address", "",
		"serve Prometheus metrics here, e.g. 127.0.0.1:9402 (empty: no listener)")
	fs.BoolVar(&opts.showVersion, "version", false, "print the version and exit")
	utilfeature.DefaultMutableFeatureGate.AddFlag(fs)
	logf.AddFlagsNonDeprecated(opts.logging, fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if opts.showVersion {
		return opts, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if opts.kubeconfig == "" && opts.master == "" {
		return nil, errors.New("--kubeconfig is required")
	}
	for _, name := range opts.controllers {
		if _, ok := controllerpkg.Known()[name]; !ok {
			return nil, fmt.Errorf("unknown controller %q (known: %s)", name, strings.Join(known, ", "))
		}
	}
	if err := logf.ValidateAndApply(opts.logging); err != nil {
		return nil, err
	}
	return opts, nil
}

func sortedKnown() []string {
	names := make([]string, 0, len(controllerpkg.Known()))
	for name := range controllerpkg.Known() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func run(ctx context.Context, opts *options) error {
	log := logf.FromContext(ctx)
	clk := clock.RealClock{}
	m := metrics.New(log, clk)

	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		APIServerHost:      opts.master,
		Kubeconfig:         opts.kubeconfig,
		KubernetesAPIQPS:   opts.qps,
		KubernetesAPIBurst: opts.burst,
		Clock:              clk,
		Metrics:            m,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace: opts.clusterResourceNamespace,
		},
		// The registry is only read by ACME code, which is not built in, but
		// keep the context complete rather than nil.
		ACMEOptions: controllerpkg.ACMEOptions{AccountRegistry: accounts.NewDefaultRegistry()},
		CertificateOptions: controllerpkg.CertificateOptions{
			EnableOwnerRef:           opts.enableOwnerRef,
			CopiedAnnotationPrefixes: copiedAnnotationPrefixes,
		},
	})
	if err != nil {
		return fmt.Errorf("building controller context: %w", err)
	}

	if opts.metricsAddress != "" {
		ln, err := net.Listen("tcp", opts.metricsAddress)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := m.NewServer(ln)
		go func() { _ = srv.Serve(ln) }()
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
		}()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(opts.controllers))
	for _, name := range opts.controllers {
		// Constructing a controller registers its informers with the shared
		// factories, so every controller must exist before they are started.
		ctrl, err := controllerpkg.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("creating controller %s: %w", name, err)
		}
		log.V(logf.InfoLevel).Info("starting controller", "controller", name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ctrl.Run(workersPerController, ctx); err != nil {
				errs <- fmt.Errorf("controller %s: %w", name, err)
				cancel()
			}
		}()
	}

	// Build returns a copy of the factory's context that shares its informer
	// factories; starting them once serves every controller built above.
	shared, err := factory.Build()
	if err != nil {
		return err
	}
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if shared.GatewaySolverEnabled {
		shared.GWShared.Start(ctx.Done())
	}
	log.Info("controllers started", "count", len(opts.controllers),
		"clusterResourceNamespace", opts.clusterResourceNamespace)

	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}
