//go:build linux && kqmodel_netbsd

package fuzz_test

// kqFlavour names the kernel-model flavour that the kqmodel_netbsd build tag runs the
// kqueue backend over (see kqueue_model_test.go).
const kqFlavour = "netbsd"
