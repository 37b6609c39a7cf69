//go:build netbsd

package poller

// kqTags marks each change with the generation of the registration it makes. NetBSD's
// Udata is an integer in x/sys (intptr_t in the kernel: int32 or int64 by architecture),
// so it holds the generation itself.
type kqTags struct{}

// tag makes ev carry generation gen.
func (*kqTags) tag(ev *rawKevent, gen uint32) { setUdata(&ev.Udata, gen) }

// tagged reports whether ev carries generation gen.
func (*kqTags) tagged(ev *rawKevent, gen uint32) bool { return udataIs(ev.Udata, gen) }

func setUdata[T ~int32 | ~int64](udata *T, gen uint32) { *udata = T(gen) }

func udataIs[T ~int32 | ~int64](udata T, gen uint32) bool { return udata == T(gen) }
