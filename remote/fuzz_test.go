package remote

import "testing"

// FuzzConfigFromKubeconfig: whatever a credentials Secret holds, reading
// it never panics; it is a config or an error.
func FuzzConfigFromKubeconfig(f *testing.F) {
	f.Add([]byte(`apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: c, context: {cluster: t, user: u}}]
current-context: c
`))
	f.Add([]byte(`current-context: missing`))
	f.Add([]byte(`this: is: not: a kubeconfig`))
	f.Add([]byte{0xff, 0xfe})
	f.Add([]byte(`{"clusters":[{"name":"t","cluster":{"server":"::::"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ConfigFromKubeconfig(data, 10, 20)
		if err == nil && cfg == nil {
			t.Fatal("no config and no error")
		}
		if err == nil && cfg.Host == "" {
			t.Fatal("a config without a server address was accepted")
		}
	})
}
