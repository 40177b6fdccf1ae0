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

// auditReadsPolicy logs writes as auditPolicy does, and every list and
// watch once too: a list when answered, a watch when its stream starts
// (it may stay open for many minutes, and a watch that ends with an
// error event, such as 410 Expired, is still answered 200 first).
const auditReadsPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, Panic]
rules:
- level: Metadata
  verbs: [create, update, patch, delete]
- level: Metadata
  verbs: [watch]
  omitStages: [ResponseComplete]
- level: Metadata
  verbs: [list]
- level: None
`

func auditPolicyFor(reads bool) string {
	if reads {
		return auditReadsPolicy
	}
	return auditPolicy
}

// writeVerbs are the audit verbs AuditWrites returns.
var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true}

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

// AuditRead is one list or watch the API server logged (see
// WithAuditReads).
type AuditRead struct {
	Verb       string    `json:"verb"` // list or watch
	RequestURI string    `json:"requestURI"`
	UserAgent  string    `json:"userAgent"`
	Received   time.Time `json:"requestReceivedTimestamp"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource  string `json:"resource"`
		APIGroup  string `json:"apiGroup"`
		Namespace string `json:"namespace"`
	} `json:"objectRef"`
}

func (c *Cluster) auditLogPath() string { return filepath.Join(c.Dir, "audit.log") }

// AuditWrites returns every write logged so far by a cluster started with
// WithAuditLog, in the order the API server answered them.
func (c *Cluster) AuditWrites() ([]AuditWrite, error) {
	return readAudit(c.auditLogPath(), func(w AuditWrite) bool { return writeVerbs[w.Verb] })
}

// AuditReads returns every list and watch logged so far by a cluster
// started with WithAuditReads, in the order they were logged.
func (c *Cluster) AuditReads() ([]AuditRead, error) {
	return readAudit(c.auditLogPath(), func(r AuditRead) bool { return r.Verb == "list" || r.Verb == "watch" })
}

// readAudit decodes each line of the audit log at path as a T and returns
// those keep accepts.
func readAudit[T any](path string, keep func(T) bool) ([]T, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for s.Scan() {
		var e T
		if err := json.Unmarshal(s.Bytes(), &e); err != nil {
			continue // a line still being written
		}
		if keep(e) {
			out = append(out, e)
		}
	}
	return out, s.Err()
}
