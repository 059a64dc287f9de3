// Command loom is the loom engine's binary: it runs the built-in jobs locally
// (loom run), lists them (loom jobs), and plays every role of a job on YARN.
package main

import (
	_ "github.com/loom-yarn/loom/bench/nexmark"
	"github.com/loom-yarn/loom/cli"
	_ "github.com/loom-yarn/loom/jobs"
)

func main() { cli.Main() }
