// Command coscheduling: scheduler-plugins' coscheduling as one multi-call binary, built from
// sigs.k8s.io/scheduler-plugins the way that project's own binaries are:
//
//	coscheduling scheduler [kube-scheduler flags]   kube-scheduler with the Coscheduling plugin registered
//	coscheduling controller [controller flags]      the PodGroup (and ElasticQuota) status controller
//
// testenv runs both, so kaic's gang_scheduling check exercises `scheduling.x-k8s.io` PodGroups as a
// scheduler-plugins installation serves them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	controller "sigs.k8s.io/scheduler-plugins/cmd/controller/app"
	"sigs.k8s.io/scheduler-plugins/pkg/coscheduling"

	// Registers the scheduler-plugins config types (CoschedulingArgs) with the scheduler's scheme.
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: coscheduling scheduler|controller [flags]")
		os.Exit(2)
	}
	command, args := os.Args[1], os.Args[2:]
	switch command {
	case "scheduler":
		scheduler := app.NewSchedulerCommand(app.WithPlugin(coscheduling.Name, coscheduling.New))
		scheduler.SetArgs(args)
		os.Exit(cli.Run(scheduler))
	case "controller":
		options := controller.NewServerRunOptions()
		if err := pflag.CommandLine.Parse(args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := controller.Run(options); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "coscheduling: unknown command %q (want scheduler or controller)\n", command)
		os.Exit(2)
	}
}
