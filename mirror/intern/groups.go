package intern

import (
	"slices"
	"sync"
)

// Group names a group of cached objects in one namespace: the
// EndpointSlices of one Service.
type Group struct {
	Namespace, Name string
}

// Groups indexes a cache's objects by group, keeping the names of each
// group's members. client-go's Indexer keeps a Go set per index value,
// about 300 bytes even with a single member, and every mirrored Service
// has a group in each of two slice caches; a map entry and a short slice
// of names cost a fifth of that. The names are the cached objects' own
// strings, so a member costs a string header.
//
// An informer's event handler keeps it (Add, Move, Remove), so it trails
// the informer's store by the events not yet handled: a reader must wait
// for the handler's sync (its registration's HasSynced), and treat a name
// the store no longer holds as gone.
type Groups struct {
	mu sync.RWMutex
	m  map[Group][]string
}

// Add records name as a member of g; adding a member twice keeps one.
func (gs *Groups) Add(g Group, name string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if slices.Contains(gs.m[g], name) {
		return
	}
	if gs.m == nil {
		gs.m = map[Group][]string{}
	}
	gs.m[g] = append(gs.m[g], name)
}

// Remove forgets name as a member of g.
func (gs *Groups) Remove(g Group, name string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	members := gs.m[g]
	i := slices.Index(members, name)
	if i < 0 {
		return
	}
	if len(members) == 1 {
		delete(gs.m, g)
		return
	}
	// A new slice, not the old one shortened in place: Members' callers
	// may still hold the old one.
	gs.m[g] = slices.Delete(slices.Clone(members), i, i+1)
}

// Move records an update of member name from group from to group to; it
// changes nothing when they are the same.
func (gs *Groups) Move(name string, from, to Group) {
	if from == to {
		return
	}
	gs.Remove(from, name)
	gs.Add(to, name)
}

// Members returns the names in g. The slice is shared: callers must not
// change it.
func (gs *Groups) Members(g Group) []string {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	return gs.m[g]
}

// Len returns the number of groups with members.
func (gs *Groups) Len() int {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	return len(gs.m)
}
