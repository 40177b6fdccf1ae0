package benchmark

import (
	"reflect"
	"testing"
	"time"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

func auditWrite(agent, verb, resource, subresource string, code int, at time.Time) testbed.AuditWrite {
	var w testbed.AuditWrite
	w.UserAgent, w.Verb, w.Received = agent, verb, at
	w.ObjectRef.Resource, w.ObjectRef.Subresource = resource, subresource
	w.ResponseStatus.Code = code
	return w
}

func TestCountWritesCountsOneReplicasSuccessfulWritesInTheWindow(t *testing.T) {
	from := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	to := from.Add(time.Minute)
	const me = "svcmirror/v1 (replica-2)"
	writes := []testbed.AuditWrite{
		auditWrite(me, "update", "endpoints", "", 200, from.Add(time.Second)),
		auditWrite(me, "create", "services", "", 201, to),
		auditWrite(me, "update", "leases", "", 200, from.Add(2*time.Second)),
		auditWrite(me, "update", "links", "status", 200, from.Add(3*time.Second)),
		// Not counted: another replica (whose name holds this one's), a
		// refused write, and writes outside the window.
		auditWrite("svcmirror/v1 (replica-22)", "update", "services", "", 200, from.Add(time.Second)),
		auditWrite("svcmirror/v1 (replica-1)", "update", "services", "", 200, from.Add(time.Second)),
		auditWrite(me, "update", "services", "", 409, from.Add(time.Second)),
		auditWrite(me, "update", "services", "", 200, from.Add(-time.Millisecond)),
		auditWrite(me, "update", "endpointslices", "", 200, to.Add(time.Millisecond)),
	}
	mirror, all := countWrites(writes, "replica-2", from, to)
	if mirror != 2 {
		t.Errorf("mirror writes = %d, want 2 (the Endpoints update and the Service create)", mirror)
	}
	want := map[string]int{"update endpoints": 1, "create services": 1, "update leases": 1, "update links/status": 1}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("all writes = %v, want %v", all, want)
	}
}
