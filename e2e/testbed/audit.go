package testbed

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// auditPolicy logs writes only, once each, when the answer is sent.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted, Panic]
rules:
- level: Metadata
  verbs: [create, update, patch, delete]
- level: None
`

// AuditWrite is one write the API server answered, from its audit log.
type AuditWrite struct {
	Verb      string    `json:"verb"`
	UserAgent string    `json:"userAgent"`
	Received  time.Time `json:"requestReceivedTimestamp"`
	User      struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func (c *Cluster) auditLogPath() string { return filepath.Join(c.Dir, "audit.log") }

// AuditWrites returns every write logged so far by a cluster started with
// WithAuditLog, in the order the API server answered them.
func (c *Cluster) AuditWrites() ([]AuditWrite, error) {
	f, err := os.Open(c.auditLogPath())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AuditWrite
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for s.Scan() {
		var w AuditWrite
		if err := json.Unmarshal(s.Bytes(), &w); err != nil {
			continue // a line still being written
		}
		out = append(out, w)
	}
	return out, s.Err()
}
