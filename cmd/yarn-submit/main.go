// Command yarn-submit submits a loom job to YARN: `yarn-submit ARGS` is
// `loom submit ARGS`, under the name users of spark-submit look for.
package main

import (
	"os"

	"github.com/loom-yarn/loom/cli"
	_ "github.com/loom-yarn/loom/jobs"
)

func main() {
	os.Exit(cli.Run(append([]string{"submit"}, os.Args[1:]...), os.Stdout, os.Stderr))
}
