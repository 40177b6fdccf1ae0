package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// CompactEtcd compacts the cluster's etcd at its current revision, as the
// API server's own compactor does every --etcd-compaction-interval (5 min
// by default), and returns that revision. From then on etcd refuses any
// watch that starts before it, and the API server answers such a watch
// (when it is not served from the watch cache) with 410 Expired. It uses
// etcd's own JSON API (the gRPC gateway on the client URL); physical
// compaction returns once the old revisions are gone.
func (c *Cluster) CompactEtcd(ctx context.Context) (int64, error) {
	var status struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	// A range over one key answers with the store's current revision.
	if err := c.etcdCall(ctx, "/v3/kv/range", map[string]any{"key": []byte("compact-probe")}, &status); err != nil {
		return 0, err
	}
	rev, err := strconv.ParseInt(status.Header.Revision, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd revision %q: %w", status.Header.Revision, err)
	}
	if err := c.etcdCall(ctx, "/v3/kv/compaction", map[string]any{"revision": rev, "physical": true}, nil); err != nil {
		return 0, err
	}
	return rev, nil
}

// etcdCall POSTs request as JSON to path on etcd's client URL and decodes
// the answer into response (unless nil).
func (c *Cluster) etcdCall(ctx context.Context, path string, request, response any) error {
	body, err := json.Marshal(request)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.etcdURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: status %d: %s", path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if response == nil {
		return nil
	}
	return json.Unmarshal(data, response)
}
