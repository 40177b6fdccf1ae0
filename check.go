package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcmirror/svcmirror/mirror/check"
)

// checkOptions are `svcmirror check`'s flags.
type checkOptions struct {
	kubeconfig, context string
	namespace, link     string
	output              string
	timeout             time.Duration
}

func checkFlags(fs *flag.FlagSet) func(context.Context) error {
	o := &checkOptions{}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the source cluster; kubectl's default ($KUBECONFIG, ~/.kube/config) when empty")
	fs.StringVar(&o.context, "context", "", "kubeconfig context to use; the current one when empty")
	fs.StringVar(&o.namespace, "namespace", "linkerd-multicluster", "namespace of the Link and its credentials Secret")
	fs.StringVar(&o.link, "link", "", "name of the Link to check (required)")
	fs.StringVar(&o.output, "o", check.FormatTable, "output format: table or json")
	fs.StringVar(&o.output, "output", check.FormatTable, "same as -o")
	// Long enough for a gateway probe with Linkerd's default 30s timeout.
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "give up on every check still running after this long")
	return o.run
}

func (o *checkOptions) run(ctx context.Context) error {
	if o.link == "" {
		return errors.New("--link is required")
	}
	if o.output != check.FormatTable && o.output != check.FormatJSON {
		return fmt.Errorf("-o must be %s or %s, not %q", check.FormatTable, check.FormatJSON, o.output)
	}
	cfg, err := checkConfig(o.kubeconfig, o.context)
	if err != nil {
		return err
	}
	cfg.UserAgent = "svcmirror-check/" + version
	cfg.WarningHandler = rest.NoWarnings{} // core/v1 Endpoints are read on purpose
	local, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("source cluster client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("source cluster dynamic client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	report := check.Run(ctx, check.Config{Namespace: o.namespace, LinkName: o.link, Local: local, Dynamic: dyn})
	if err := check.Write(out, report, o.output); err != nil {
		return err
	}
	failed := report.Failed()
	if len(failed) == 0 {
		return nil
	}
	names := make([]string, len(failed))
	for i, f := range failed {
		names[i] = f.Name
		fmt.Fprintf(errOut, "check %s failed: %s\n  to fix: %s\n", f.Name, f.Detail, f.Fix)
	}
	return reportedError{fmt.Errorf("failed checks: %s", strings.Join(names, ", "))}
}

// checkConfig loads the source cluster's client configuration as kubectl
// does: --kubeconfig, else $KUBECONFIG or ~/.kube/config, else the
// in-cluster configuration; --context picks a context.
func checkConfig(path, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("source cluster configuration: %w", err)
	}
	cfg.Timeout = 10 * time.Second // an unreachable server reports instead of hanging
	return cfg, nil
}
