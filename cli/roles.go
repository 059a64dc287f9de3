package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/loom-yarn/loom/am"
	"github.com/loom-yarn/loom/worker"
)

// newAMCommand is the hidden role YARN starts in the application's first
// container (am.AMCommand): the ApplicationMaster of a submitted job.
func newAMCommand(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    "am",
		Short:  "Run as a job's YARN ApplicationMaster (started by YARN, not by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return am.Run(cmd.Context(), am.Options{Log: stderr})
		},
	}
}

// newWorkerCommand is the hidden role the AM starts in worker containers
// (am.WorkerCommand).
func newWorkerCommand(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Run as a worker of a job on YARN (started by the ApplicationMaster, not by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := worker.OptionsFromEnv()
			if err != nil {
				return err
			}
			opts.Log = stderr
			return worker.Run(cmd.Context(), opts)
		},
	}
}
