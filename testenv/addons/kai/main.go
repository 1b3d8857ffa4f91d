// Command kai: NVIDIA's KAI scheduler as one multi-call binary, built from github.com/NVIDIA/KAI-scheduler:
//
//	kai scheduler [flags] [--plugin-server-address ADDR]   the scheduler (schedulerName kai-scheduler)
//	kai binder [flags]                                     the binder, which binds what the scheduler decided
//	kai podgrouper [flags]                                 the podgrouper, which gives owned pods PodGroups
//
// The scheduler is started the way KAI's own cmd/scheduler starts it, with one difference: its plugin HTTP
// server listens on --plugin-server-address (127.0.0.1 in testenv) instead of every interface. testenv runs
// both, so kaic's gang_scheduling check exercises `scheduling.run.ai` PodGroups.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	clientconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	binder "github.com/NVIDIA/KAI-scheduler/cmd/binder/app"
	podgrouper "github.com/NVIDIA/KAI-scheduler/cmd/podgrouper/app"
	scheduler "github.com/NVIDIA/KAI-scheduler/cmd/scheduler/app"
	"github.com/NVIDIA/KAI-scheduler/cmd/scheduler/app/options"
	"github.com/NVIDIA/KAI-scheduler/pkg/binder/plugins"
	"github.com/NVIDIA/KAI-scheduler/pkg/binder/plugins/gpusharing"
	k8splugins "github.com/NVIDIA/KAI-scheduler/pkg/binder/plugins/k8s-plugins"
	"github.com/NVIDIA/KAI-scheduler/pkg/scheduler/conf"
	"github.com/NVIDIA/KAI-scheduler/pkg/scheduler/log"
)

func main() {
	if len(os.Args) < 2 {
		fail(2, "usage: kai scheduler|binder|podgrouper [flags]")
	}
	command := os.Args[1]
	// Both commands parse the global flag set from os.Args[1:]: drop the command word.
	os.Args = append(os.Args[:1], os.Args[2:]...)
	switch command {
	case "scheduler":
		runScheduler()
	case "binder":
		runBinder()
	case "podgrouper":
		if err := podgrouper.Run(); err != nil {
			fail(1, fmt.Sprintf("podgrouper: %v", err))
		}
	default:
		fail(2, fmt.Sprintf("kai: unknown command %q (want scheduler, binder or podgrouper)", command))
	}
}

func fail(code int, message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(code)
}

// runScheduler follows KAI's app.RunApp, with the plugin server on a chosen address.
func runScheduler() {
	so := options.NewServerOption()
	so.AddFlags(pflag.CommandLine)
	pluginAddress := pflag.String("plugin-server-address", "127.0.0.1:8081", "Address of the plugin HTTP server")
	if err := so.ValidateOptions(); err != nil { // parses the flags
		fail(2, err.Error())
	}
	if err := log.InitLoggers(so.Verbosity); err != nil {
		fail(1, err.Error())
	}
	config := conf.GetConfig()
	config.ResourceReservationAppLabelValue = so.ResourceReservationAppLabel
	config.CPUWorkerNodeLabelKey = so.CPUWorkerNodeLabelKey
	config.GPUWorkerNodeLabelKey = so.GPUWorkerNodeLabelKey
	config.MIGWorkerNodeLabelKey = so.MIGWorkerNodeLabelKey

	mux := http.NewServeMux()
	go func() {
		if err := http.ListenAndServe(*pluginAddress, mux); err != nil {
			fail(1, fmt.Sprintf("plugin server on %s: %v", *pluginAddress, err))
		}
	}()
	rest := clientconfig.GetConfigOrDie()
	rest.QPS = float32(so.QPS)
	rest.Burst = so.Burst
	if err := scheduler.Run(so, rest, mux); err != nil {
		fail(1, err.Error())
	}
}

// runBinder follows KAI's cmd/binder: the Kubernetes binding plugins and GPU sharing.
func runBinder() {
	options := binder.InitOptions(nil)
	logging := zap.Options{Development: true, TimeEncoder: zapcore.ISO8601TimeEncoder}
	logging.BindFlags(flag.CommandLine)
	pflag.CommandLine.AddGoFlagSet(flag.CommandLine)
	pflag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&logging)))

	app, err := binder.New(options, ctrl.GetConfigOrDie())
	if err != nil {
		fail(1, fmt.Sprintf("binder: %v", err))
	}
	binderPlugins := plugins.New()
	k8s, err := k8splugins.New(app.K8sInterface, app.InformerFactory, int64(app.Options.VolumeBindingTimeoutSeconds))
	if err != nil {
		fail(1, fmt.Sprintf("binder plugins: %v", err))
	}
	binderPlugins.RegisterPlugin(k8s)
	binderPlugins.RegisterPlugin(gpusharing.New(app.Client, app.Options.GpuCdiEnabled))
	app.RegisterPlugins(binderPlugins)
	if err := app.Run(ctrl.SetupSignalHandler()); err != nil {
		fail(1, fmt.Sprintf("binder: %v", err))
	}
}
