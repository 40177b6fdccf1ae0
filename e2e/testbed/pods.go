package testbed

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FakeNodeName is the Node every stand-in pod is bound to. No kubelet runs
// for it; it exists because the EndpointSlice controller leaves out pods
// whose Node object is missing.
const FakeNodeName = "testbed-node"

// PodSpec describes a stand-in pod made by ReadyPod.
type PodSpec struct {
	Namespace, Name string
	Labels          map[string]string
	IP              string
	// Hostname and Subdomain make the pod addressable through a headless
	// Service, as a StatefulSet's pods are.
	Hostname, Subdomain string
}

// ReadyPod makes a pod that the endpoints and EndpointSlice controllers
// publish as a ready endpoint, without a kubelet: it is bound to the fake
// node and its status is set to Running and Ready with the given IP.
func (c *Cluster) ReadyPod(ctx context.Context, spec PodSpec) (*corev1.Pod, error) {
	if err := c.ensureFakeNode(ctx); err != nil {
		return nil, err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: spec.Namespace, Name: spec.Name, Labels: spec.Labels},
		Spec: corev1.PodSpec{
			NodeName:   FakeNodeName,
			Hostname:   spec.Hostname,
			Subdomain:  spec.Subdomain,
			Containers: []corev1.Container{{Name: "app", Image: "stand-in:never-pulled"}},
		},
	}
	pod, err := c.Client.CoreV1().Pods(spec.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", spec.Namespace, spec.Name, err)
	}
	pod.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  spec.IP,
		PodIPs: []corev1.PodIP{{IP: spec.IP}},
		HostIP: "10.255.0.1",
	}
	setPodReady(pod, true)
	pod, err = c.Client.CoreV1().Pods(spec.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set status of pod %s/%s: %w", spec.Namespace, spec.Name, err)
	}
	return pod, nil
}

// SetPodReady flips a stand-in pod's Ready condition, which moves it in or
// out of its Services' ready endpoints.
func (c *Cluster) SetPodReady(ctx context.Context, namespace, name string, ready bool) error {
	pod, err := c.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	setPodReady(pod, ready)
	_, err = c.Client.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

func setPodReady(pod *corev1.Pod, ready bool) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	now := metav1.Now()
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
	}
}

func (c *Cluster) ensureFakeNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: FakeNodeName}}
	_, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create fake node: %w", err)
	}
	return nil
}
