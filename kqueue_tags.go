//go:build darwin || dragonfly || freebsd || linux || openbsd

package poller

// kqTagCount is how many generations a tag tells apart: a result is misattributed only
// if this many registrations are made between the kernel's answer and its collection.
const kqTagCount = 1024

// kqTags marks each change with the generation of the registration it makes. Udata is a
// pointer the garbage collector scans, never a place for an integer, so the tag is the
// address of one byte of an array that lives as long as the backend.
type kqTags struct {
	marks [kqTagCount]byte
}

// tag makes ev carry generation gen.
func (t *kqTags) tag(ev *rawKevent, gen uint32) { ev.Udata = &t.marks[gen%kqTagCount] }

// tagged reports whether ev carries generation gen.
func (t *kqTags) tagged(ev *rawKevent, gen uint32) bool {
	return ev.Udata == &t.marks[gen%kqTagCount]
}
