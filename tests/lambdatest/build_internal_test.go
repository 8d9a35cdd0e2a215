package lambdatest

import "testing"

func TestPackagePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ pkg, want string }{
		{"health", "./functions/health"},
		{"./functions/health", "./functions/health"},
		{"functions/health/", "./functions/health"},
		{"./tests/lambdatest/testdata/echofn", "./tests/lambdatest/testdata/echofn"},
		{Module + "/functions/chat", "./functions/chat"},
		{"/repo/functions/chat", "./functions/chat"},
	}
	for _, tt := range tests {
		if got := packagePath("/repo", tt.pkg); got != tt.want {
			t.Errorf("packagePath(/repo, %q) = %q, want %q", tt.pkg, got, tt.want)
		}
	}
}
