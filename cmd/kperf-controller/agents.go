package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/discover"
)

func agentsCmd(args []string) int { return agentsWith(args, net.DefaultResolver) }

// agentsWith is the agents command resolving dns:/// and srv: entries
// with r.
func agentsWith(args []string, r discover.Resolver) int {
	fs := flag.NewFlagSet("agents", flag.ContinueOnError)
	agents := fs.String("agents", "", agentsUsage)
	timeout := fs.Duration("dial-timeout", 10*time.Second, "give up on an unreachable agent after this long")
	discovery := bindDiscoveryFlags(fs)
	discovery.resolver = r
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kperf-controller agents --agents host:port,...|dns:///name:port|srv:_service._proto.domain [--expect-agents N]\n\nLists each agent's version, host, cores and state; exits 1 if any is unreachable.\ndns:/// and srv: entries are resolved first; addresses whose agent does not answer are left out.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if len(splitList(*agents)) == 0 {
		return usageErr("agents: --agents is required")
	}
	addrs, code := discovery.find(*agents, *timeout)
	if code != 0 {
		return code
	}
	infos, err := controller.Info(context.Background(), addrs, *timeout, discovery.dialOpts...)
	if err != nil {
		return fail(err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ADDRESS\tVERSION\tPROTOCOL\tHOST\tCORES\tDRIVERS\tSTATE")
	for i, in := range infos {
		state := "ready"
		if in.GetBusy() {
			state = "busy"
		}
		fmt.Fprintf(w, "%s\t%s\tv%d\t%s\t%d\t%s\t%s\n", addrs[i], in.GetVersion(), in.GetProtocolVersion(), in.GetHostname(), in.GetCores(), strings.Join(in.GetDrivers(), ","), state)
	}
	w.Flush()
	if err := controller.SameVersion(addrs, infos); err != nil {
		return fail(err)
	}
	return exitOK
}
