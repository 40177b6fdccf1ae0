package plan

import (
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Action is what the engine should do about one local object.
type Action int

const (
	// ActionNone: the object is already right (or rightly absent); no write.
	ActionNone Action = iota
	// ActionCreate: create the returned object.
	ActionCreate
	// ActionUpdate: update with the returned object, a copy of the existing
	// one (same resourceVersion) with our fields set.
	ActionUpdate
	// ActionDelete: delete the returned (existing) object.
	ActionDelete
	// ActionRecreate: delete the existing object, then create the returned
	// one. Needed when a Service must change between headless and ClusterIP,
	// which the API server does not allow in place.
	ActionRecreate
	// ActionConflict: an object of that name exists but is not ours (it
	// lacks the ownership mark): leave it alone and report it.
	ActionConflict
)

var actionNames = [...]string{"None", "Create", "Update", "Delete", "Recreate", "Conflict"}

// String returns the action's name, for logs and metric labels.
func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return fmt.Sprintf("Action(%d)", int(a))
	}
	return actionNames[a]
}

// PlanService decides what to do about one mirror Service; existing is nil
// when there is none. It never modifies its arguments.
//
//	desired  existing                   action    object returned
//	nil      nil                        None      nil
//	nil      marked as a mirror         Delete    existing
//	nil      not marked                 Conflict  nil
//	set      nil                        Create    desired
//	set      not owned by the cluster   Conflict  nil
//	set      owned, headless flips      Recreate  desired
//	set      owned, owned fields equal  None      nil
//	set      owned, owned fields differ Update    existing copy, owned fields from desired
//
// Ownership is checked against desired's cluster-name label. With no desired
// object the cluster is unknown, so only the mirrored-service mark is checked:
// the engine lists candidates for deletion through LocalSelector.
//
// Owned fields: the whole label and annotation maps (mirrors are ours, and
// owning them fully is what removes a label the remote dropped), spec.type,
// spec.selector (always empty), spec.ports (name, protocol, port, targetPort,
// appProtocol) and whether the Service is headless. Server-assigned fields
// (clusterIP(s), ipFamilies, ipFamilyPolicy, sessionAffinity,
// internalTrafficPolicy, nodePorts, metadata, status) are never compared and
// are kept on update.
func PlanService(desired, existing *corev1.Service) (Action, *corev1.Service) {
	return planService(desired, existing, nil)
}

// planService is PlanService for an existing object whose owned fields
// may be known only by their digest (owned).
func planService(desired, existing *corev1.Service, owned Digests) (Action, *corev1.Service) {
	inSync := func(d, e *corev1.Service) bool { return serviceInSync(d, e, owned) }
	action := decide(desired, existing, func(d, e *corev1.Service) bool { return isHeadless(d) != isHeadless(e) }, inSync)
	if action != ActionUpdate {
		return action, picked(action, desired, existing)
	}
	return ActionUpdate, OwnService(existing, desired)
}

// OwnService returns a copy of existing with desired's owned fields (see
// PlanService): the object an update writes. The engine applies it to the
// live object, since its cache keeps only the fields the plan compares.
func OwnService(existing, desired *corev1.Service) *corev1.Service {
	out := existing.DeepCopy()
	out.Labels = maps.Clone(desired.Labels)
	out.Annotations = maps.Clone(desired.Annotations)
	out.Spec.Selector = nil
	out.Spec.Type = desired.Spec.Type
	if out.Spec.Type != corev1.ServiceTypeExternalName {
		out.Spec.ExternalName = ""
	}
	out.Spec.Ports = copyPorts(desired.Spec.Ports)
	return out
}

// decide is the decision table every Plan function shares (PlanService's
// doc comment shows it): recreate says whether the two differ in a field
// the API server cannot change in place (nil: none), inSync whether the
// owned fields are equal.
func decide[T interface {
	metav1.Object
	comparable
}](desired, existing T, recreate, inSync func(desired, existing T) bool) Action {
	var none T
	switch {
	case desired == none && existing == none:
		return ActionNone
	case desired == none:
		if l := existing.GetLabels(); l[LabelMirroredService] != "true" || l[LabelClusterName] == "" {
			return ActionConflict
		}
		return ActionDelete
	case existing == none:
		return ActionCreate
	case !IsOwnedBy(existing, desired.GetLabels()[LabelClusterName]):
		return ActionConflict
	case recreate != nil && recreate(desired, existing):
		return ActionRecreate
	case inSync(desired, existing):
		return ActionNone
	}
	return ActionUpdate
}

// picked is the object that goes with an action other than Update: the
// existing one to delete, the desired one to create, none otherwise.
func picked[T any](action Action, desired, existing *T) *T {
	switch action {
	case ActionDelete:
		return existing
	case ActionCreate, ActionRecreate:
		return desired
	}
	return nil
}

// PlanEndpoints decides what to do about one mirror Endpoints; desired is nil
// when none should exist, existing when there is none. The decision table is
// PlanService's without the headless row. Owned fields: the label and
// annotation maps and the subsets, compared after normalising (address and
// port order, nil versus empty, the TCP protocol default).
func PlanEndpoints(desired, existing *corev1.Endpoints) (Action, *corev1.Endpoints) {
	return planEndpoints(desired, existing, nil)
}

// planEndpoints is PlanEndpoints with owned digests (see planService).
func planEndpoints(desired, existing *corev1.Endpoints, owned Digests) (Action, *corev1.Endpoints) {
	inSync := func(d, e *corev1.Endpoints) bool { return endpointsInSync(d, e, owned) }
	if action := decide(desired, existing, nil, inSync); action != ActionUpdate {
		return action, picked(action, desired, existing)
	}
	return ActionUpdate, OwnEndpoints(existing, desired)
}

// OwnEndpoints is OwnService for Endpoints.
func OwnEndpoints(existing, desired *corev1.Endpoints) *corev1.Endpoints {
	out := existing.DeepCopy()
	out.Labels = maps.Clone(desired.Labels)
	out.Annotations = maps.Clone(desired.Annotations)
	out.Subsets = desired.DeepCopy().Subsets
	return out
}

func isHeadless(svc *corev1.Service) bool { return svc.Spec.ClusterIP == corev1.ClusterIPNone }
