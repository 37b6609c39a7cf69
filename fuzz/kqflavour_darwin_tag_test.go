//go:build linux && kqmodel_darwin

package fuzz_test

// kqFlavour names the kernel-model flavour that the kqmodel_darwin build tag runs the
// kqueue backend over (see kqueue_model_test.go).
const kqFlavour = "darwin"
