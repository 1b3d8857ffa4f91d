// Command kaic-testenv holds testenv's own small components:
//
//	kaic-testenv simdriver   simulated NVIDIA DRA driver (ResourceSlices, DeviceClass)
//	                         plus the simulated container runtime for probe pods
//	                         (per-container device visibility written as kwok Logs, and the
//	                         node's kernel, processes, mounts and interfaces per RuntimeClass handler).
//	kaic-testenv podrun      served pods: a network namespace per pod with its pod IP, and a real process
//	                         for images testenv recognises (podrun.go, podnet.go)
//	kaic-testenv dcgmsim     simulated NVIDIA DCGM exporter, run by podrun in the exporter's pods
//	kaic-testenv dcgmload    DCGM's load generator (dcgmproftester) as kaic's load pod runs it, run by podrun
//	kaic-testenv naivegw     a naive Gateway API implementation (profile naive-gateway), run by podrun
//	kaic-testenv infgw       the controller of testenv's inference gateway (Envoy consulting an InferencePool's
//	                         endpoint picker), run by podrun beside Envoy
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kaic-testenv simdriver|podrun|dcgmsim|dcgmload|naivegw|infgw [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "simdriver":
		if err := runSimDriver(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "simdriver:", err)
			os.Exit(1)
		}
	case "podrun":
		if err := runPodRun(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "podrun:", err)
			os.Exit(1)
		}
	case "dcgmsim":
		if err := runDCGMSim(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "dcgmsim:", err)
			os.Exit(1)
		}
	case "dcgmload":
		if err := runDCGMLoad(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "dcgmload:", err)
			os.Exit(1)
		}
	case "naivegw":
		if err := runNaiveGW(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "naivegw:", err)
			os.Exit(1)
		}
	case "infgw":
		if err := runInfGW(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "infgw:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "kaic-testenv: unknown subcommand %q\n", os.Args[1])
		os.Exit(2)
	}
}
