// Package remote is svcmirror's view of the target cluster: a client built
// from the Link's credentials Secret, informers scoped to the exported
// Services and their EndpointSlices, and its health: whether the API
// server answers and whether it accepts the credentials. It knows nothing
// of mirrors; the engine asks it questions and hears of changes through
// Handlers.
//
// Health (reachability.go) is one loop: GET /version every 5 s, every
// second while anything is wrong or at once when an informer fails. A 401
// or 403 is a credentials problem, never an outage: Validate lists and
// watches what the informers need and names every refused permission in a
// *CredentialsError. When the server serves our lists again after an
// outage or a refusal, the Cluster starts a fresh generation of informers
// (watchset.go) instead of waiting out client-go's reflector back-off, and
// calls Handlers.Synced again once it has listed, so that every Service is
// synced again. NotReady says, until then, why the caches cannot be
// trusted.
//
// A Cluster made with Options.Candidate tests new credentials while the
// engine keeps a working connection: it logs nothing until Promote, and
// the engine switches to it only once its caches have synced.
package remote

import (
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeconfigKey is the credentials Secret's key holding the kubeconfig.
const KubeconfigKey = "kubeconfig"

// ConfigFromKubeconfig parses a kubeconfig from the credentials Secret,
// with a clear error for anything unusable, and applies the client limits.
func ConfigFromKubeconfig(data []byte, qps float32, burst int) (*rest.Config, error) {
	if len(data) == 0 {
		return nil, errors.New("kubeconfig is empty")
	}
	cc, err := clientcmd.NewClientConfigFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig does not parse: %w", err)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig is not usable: %w", err)
	}
	cfg.QPS, cfg.Burst = qps, burst
	cfg.UserAgent = "svcmirror"
	return cfg, nil
}

// NewClient makes a clientset from a parsed config.
func NewClient(cfg *rest.Config) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cfg)
}
