package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/svcmirror/svcmirror/manifests"
)

// installOptions are `svcmirror install`'s flags.
type installOptions struct {
	link, namespace, image  string
	crd                     bool
	enableNamespaceCreation bool
}

func installFlags(fs *flag.FlagSet) func(context.Context) error {
	o := &installOptions{}
	fs.StringVar(&o.link, "link", "", "name of the Link the daemon serves (required); by convention the target cluster's name")
	fs.StringVar(&o.namespace, "namespace", manifests.DefaultNamespace, "namespace of the Link, its credentials Secret and the daemon")
	fs.StringVar(&o.image, "image", manifests.DefaultImage, "the svcmirror image to run")
	fs.BoolVar(&o.crd, "crd", false, "also print the Link CRD (only on a cluster without Linkerd's multicluster extension)")
	fs.BoolVar(&o.enableNamespaceCreation, "enable-namespace-creation", false, "let the daemon create missing namespaces (adds the permission and the flag)")
	return o.run
}

// run prints, for `kubectl apply -f -` on the source cluster, everything
// one link needs there: rendered from manifests/ so the files and this
// command cannot drift apart.
func (o *installOptions) run(context.Context) error {
	if o.link == "" {
		return errors.New("--link is required")
	}
	objs, err := manifests.Install(manifests.InstallOptions{
		Link: o.link, Namespace: o.namespace, Image: o.image,
		EnableNamespaceCreation: o.enableNamespaceCreation,
	})
	if err != nil {
		return err
	}
	if o.crd {
		crd, err := manifests.Objects("crd-link.yaml")
		if err != nil {
			return err
		}
		objs = append(crd, objs...)
	}
	header := fmt.Sprintf(`svcmirror install --link %s: apply on the SOURCE cluster (kubectl apply -f -).
Then, against the target cluster: svcmirror link --cluster-name %s | kubectl --context=SOURCE apply -f -`, o.link, o.link)
	return writeYAML(out, header, objs)
}
