//go:build linux && kqmodel_openbsd

package fuzz_test

// kqFlavour names the kernel-model flavour that the kqmodel_openbsd build tag runs the
// kqueue backend over (see kqueue_model_test.go).
const kqFlavour = "openbsd"
