package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// paced calls change for each of count items at rate per second and returns
// when each was sent.
func (r *sizeRun) paced(ctx context.Context, count int, change func(ctx context.Context, k int) error) ([]time.Time, error) {
	sent := make([]time.Time, count)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / r.opts.Rate)
	for k := 0; k < count; k++ {
		if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		sent[k] = time.Now()
		if err := change(ctx, k); err != nil {
			return nil, err
		}
	}
	return sent, nil
}

// pick spreads count choices over the n Services.
func (r *sizeRun) pick(count, offset int) []int {
	count = min(count, r.n)
	out := make([]int, count)
	for k := range out {
		out[k] = (k*r.n/count + offset) % r.n
	}
	return out
}

// labelChanges changes a label on remote Services at the set rate and
// times each until its mirror carries it.
func (r *sizeRun) labelChanges(ctx context.Context) (Latencies, error) {
	picked := r.pick(r.opts.Changes, 0)
	keys := make([]string, len(picked))
	sent, err := r.paced(ctx, len(picked), func(ctx context.Context, k int) error {
		i := picked[k]
		svc := r.remote[i].DeepCopy()
		svc.Labels[revLabel] = strconv.Itoa(k)
		r.remote[i] = svc
		d, err := r.desired(i, true)
		if err != nil {
			return err
		}
		keys[k] = r.keys[i]
		r.tracker.expect(d.Service.Namespace, d.Service.Name, d)
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, revLabel, strconv.Itoa(k))
		_, err = r.tgt.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.timings(ctx, "label changes", keys, sent)
}

// emptyAndBack makes remote Services lose every ready endpoint, then get
// them back, at the set rate, and times each mirror's Endpoints following.
func (r *sizeRun) emptyAndBack(ctx context.Context) (Latencies, error) {
	picked := r.pick(r.opts.Flaps, 1)
	var all Latencies
	for _, ready := range []bool{false, true} {
		keys := make([]string, len(picked))
		sent, err := r.paced(ctx, len(picked), func(ctx context.Context, k int) error {
			i := picked[k]
			d, err := r.desired(i, ready)
			if err != nil {
				return err
			}
			keys[k] = r.keys[i]
			r.tracker.expect(d.Service.Namespace, d.Service.Name, d)
			slice := remoteSlice(i, r.opts.Endpoints, ready)
			patch, err := json.Marshal(map[string]any{"endpoints": slice.Endpoints})
			if err != nil {
				return err
			}
			_, err = r.tgt.DiscoveryV1().EndpointSlices(slice.Namespace).Patch(ctx, slice.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return nil, err
		}
		l, err := r.timings(ctx, fmt.Sprintf("endpoints ready=%v", ready), keys, sent)
		if err != nil {
			return nil, err
		}
		all = append(all, l...)
	}
	return all, nil
}

func (r *sizeRun) timings(ctx context.Context, what string, keys []string, sent []time.Time) (Latencies, error) {
	if err := r.tracker.waitRight(ctx, 2*time.Minute, what, keys); err != nil {
		return nil, err
	}
	out := make(Latencies, len(keys))
	for k, at := range r.tracker.since(keys) {
		out[k] = at.Sub(sent[k])
	}
	return out, nil
}
