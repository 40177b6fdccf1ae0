package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestPlanEndpoints(t *testing.T) {
	toGateway := func(ready, notReady []corev1.EndpointAddress, opts ...epOption) *corev1.Endpoints {
		return wantWebEndpoints(append([]epOption{withSubsets(subset(ready, notReady, gwPorts...))}, opts...)...)
	}
	desired := toGateway(ips("10.0.0.1", "10.0.0.2"), nil)
	stored := func(ep *corev1.Endpoints, opts ...epOption) *corev1.Endpoints {
		s := apiServerEndpoints(t, ep)
		for _, o := range opts {
			o(s)
		}
		return s
	}
	updated := func(existing, want *corev1.Endpoints) *corev1.Endpoints {
		u := existing.DeepCopy()
		u.Labels, u.Annotations, u.Subsets = want.Labels, want.Annotations, want.Subsets
		return u
	}
	oneDown := toGateway(ips("10.0.0.2"), ips("10.0.0.1"))
	movedIP := toGateway(ips("10.0.0.1", "10.0.0.3"), nil)
	noSubsets := wantWebEndpoints()
	newIdentity := toGateway(ips("10.0.0.1", "10.0.0.2"), nil, epAnnotations(merge(webEpAnns, map[string]string{AnnotationRemoteGatewayIdentity: "new"})))
	newPort := wantWebEndpoints(withSubsets(subset(ips("10.0.0.1", "10.0.0.2"), nil, epPort("http", 4180))))

	for _, tc := range []struct {
		name       string
		desired    *corev1.Endpoints
		existing   *corev1.Endpoints
		wantAction Action
		wantObject *corev1.Endpoints
	}{
		{"Nothing desired and nothing there needs nothing", nil, nil, ActionNone, nil},
		{"Missing Endpoints are created as desired", desired, nil, ActionCreate, desired},
		{"Endpoints no longer desired are deleted", nil, stored(desired), ActionDelete, stored(desired)},
		{"Endpoints no longer desired but not marked as a mirror are a conflict", nil, stored(desired, epLabels(nil)), ActionConflict, nil},
		{"Endpoints of the mirror's name without the ownership mark are a conflict", desired, stored(desired, epLabels(map[string]string{"app": "web"})), ActionConflict, nil},
		{"Endpoints owned by another cluster are a conflict", desired, stored(desired, epLabels(OwnershipLabels("west"))), ActionConflict, nil},

		{"Endpoints already right need nothing", desired, stored(desired), ActionNone, nil},
		{"Endpoints without subsets already right need nothing", noSubsets, stored(noSubsets), ActionNone, nil},
		{"Addresses in another order are already right", desired, stored(toGateway(ips("10.0.0.2", "10.0.0.1"), nil)), ActionNone, nil},
		{"A port whose protocol was left to the default is already right",
			wantWebEndpoints(withSubsets(subset(ips("10.0.0.1"), nil, corev1.EndpointPort{Name: "http", Port: testGWPort}))),
			stored(wantWebEndpoints(withSubsets(subset(ips("10.0.0.1"), nil, gwPorts...)))), ActionNone, nil},
		{"Ports in another order are already right",
			wantWebEndpoints(withSubsets(subset(ips("10.0.0.1"), nil, epPort("a", 1), epPort("b", 1)))),
			stored(wantWebEndpoints(withSubsets(subset(ips("10.0.0.1"), nil, epPort("b", 1), epPort("a", 1))))), ActionNone, nil},
		{"An empty subset equals no subsets", noSubsets, stored(noSubsets, withSubsets(corev1.EndpointSubset{Ports: gwPorts})), ActionNone, nil},
		{"Empty address lists equal missing ones", toGateway(ips("10.0.0.1"), []corev1.EndpointAddress{}), stored(toGateway(ips("10.0.0.1"), nil)), ActionNone, nil},

		{"An address moving to not-ready updates the Endpoints", oneDown, stored(desired), ActionUpdate, updated(stored(desired), oneDown)},
		{"An address coming back to ready updates the Endpoints", desired, stored(oneDown), ActionUpdate, updated(stored(oneDown), desired)},
		{"A changed gateway IP updates the Endpoints", movedIP, stored(desired), ActionUpdate, updated(stored(desired), movedIP)},
		{"Losing every ready remote endpoint empties the subsets", noSubsets, stored(desired), ActionUpdate, updated(stored(desired), noSubsets)},
		{"Gaining a ready remote endpoint fills the subsets", desired, stored(noSubsets), ActionUpdate, updated(stored(noSubsets), desired)},
		{"A new gateway port updates the Endpoints", newPort, stored(desired), ActionUpdate, updated(stored(desired), newPort)},
		{"A new gateway identity updates the Endpoints", newIdentity, stored(desired), ActionUpdate, updated(stored(desired), newIdentity)},
		{"A label added by someone else is removed", desired, stored(desired, epLabels(merge(owned(), map[string]string{"x": "y"}))), ActionUpdate, updated(stored(desired), desired)},
		{"An address with a nodeName set by someone else is rewritten", desired,
			stored(desired, func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].NodeName = ptr("node-1") }), ActionUpdate, updated(stored(desired), desired)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var desiredBefore, existingBefore *corev1.Endpoints
			if tc.desired != nil {
				desiredBefore = tc.desired.DeepCopy()
			}
			if tc.existing != nil {
				existingBefore = tc.existing.DeepCopy()
			}
			action, obj := PlanEndpoints(tc.desired, tc.existing)
			if action != tc.wantAction {
				t.Errorf("PlanEndpoints() action = %v, want %v", action, tc.wantAction)
			}
			if diff := cmp.Diff(tc.wantObject, obj); diff != "" {
				t.Errorf("PlanEndpoints() object mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(desiredBefore, tc.desired); diff != "" {
				t.Errorf("PlanEndpoints() modified desired:\n%s", diff)
			}
			if diff := cmp.Diff(existingBefore, tc.existing); diff != "" {
				t.Errorf("PlanEndpoints() modified existing:\n%s", diff)
			}
		})
	}
}

func TestPlanEndpointsUpdateKeepsResourceVersionAndDoesNotAliasDesired(t *testing.T) {
	desired := wantWebEndpoints(withSubsets(subset(ips("10.0.0.9"), nil, gwPorts...)))
	existing := apiServerEndpoints(t, wantWebEndpoints())
	action, obj := PlanEndpoints(desired, existing)
	if action != ActionUpdate {
		t.Fatalf("PlanEndpoints() action = %v, want Update", action)
	}
	if obj.ResourceVersion != "2002" || obj.UID != existing.UID {
		t.Errorf("update has resourceVersion %q and uid %q, want those of existing", obj.ResourceVersion, obj.UID)
	}
	obj.Subsets[0].Addresses[0].IP = "changed"
	obj.Labels["x"] = "changed"
	if desired.Subsets[0].Addresses[0].IP != "10.0.0.9" || desired.Labels["x"] != "" {
		t.Error("the update object shares subsets or labels with desired")
	}
}
