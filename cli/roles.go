package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/loom-yarn/loom/jobmaster"
	"github.com/loom-yarn/loom/worker"
)

// newAMCommand is the hidden role YARN starts in the application's first
// container (deploy.AMCommand): the ApplicationMaster of a submitted job,
// which is the job master with YARN as its resource provider.
func newAMCommand(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    "am",
		Short:  "Run as a job's YARN ApplicationMaster (started by YARN, not by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return jobmaster.RunApplicationMaster(cmd.Context(), jobmaster.AMOptions{Log: stderr})
		},
	}
}

// newWorkerCommand is the hidden role the AM starts in worker containers
// (deploy.WorkerCommand).
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
