//go:build solaris

package sock

// soReusePort is 0: x/sys has no SO_REUSEPORT for illumos and Solaris (illumos has
// none; Solaris 11.4's is not in x/sys), so ListenConfig.ReusePort gives ErrUnsupported.
const soReusePort = 0
