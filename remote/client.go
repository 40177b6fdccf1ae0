// Package remote is svcmirror's view of the target cluster: a client built
// from the Link's credentials Secret, informers scoped to the exported
// Services and their EndpointSlices, and whether the API server answers.
// It knows nothing of mirrors; the engine asks it questions.
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
