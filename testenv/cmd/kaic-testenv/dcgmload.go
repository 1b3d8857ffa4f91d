// dcgmload: plays DCGM's load generator in kaic's load pod (image nvcr.io/nvidia/cloud-native/dcgm:*,
// command dcgmproftester12), run by podrun. It takes dcgmproftester's flags (-t FIELD, -d SECONDS,
// --no-dcgm-validation), prints a start line and one progress line per second on the worker's test, and
// exits 0 after -d seconds, so kaic reads a real process's log and sees it end as the real tool ends. The
// utilisation itself is dcgmsim's: it raises the device of a running pod labelled kaic.dev/probe-load, as
// the real exporter would read it from the GPU while the tool drives it.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func runDCGMLoad(args []string) error {
	fs := flag.NewFlagSet("dcgmload", flag.ContinueOnError)
	field := fs.Int("t", 1004, "DCGM field id of the test (1004: tensor core activity)")
	seconds := fs.Int("d", 30, "duration of the test in seconds")
	fs.Bool("no-dcgm-validation", false, "generate the load without asking DCGM to validate it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seconds <= 0 {
		return fmt.Errorf("-d %d: the duration must be positive", *seconds)
	}
	fmt.Printf("TestField %d for %d seconds on GPU 0 (testenv's simulated dcgmproftester)\n", *field, *seconds)
	for i := 1; i <= *seconds; i++ {
		time.Sleep(time.Second)
		fmt.Printf("Worker 0:0[%d]: TensorEngineActive: generated %.3f after %ds\n", *field, 0.95, i)
		_ = os.Stdout.Sync()
	}
	return nil
}
