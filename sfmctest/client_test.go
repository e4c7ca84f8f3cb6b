package sfmctest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

func TestClientAgainstSimulator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []sfmctest.ServerOption
		mutate  func(*sfmc.Config)
		wantErr error
	}{
		{name: "verify ok"},
		{name: "verify ok with account id", opts: []sfmctest.ServerOption{sfmctest.WithAccountID("514000000")}},
		{name: "wrong secret", mutate: func(c *sfmc.Config) { c.ClientSecret = "wrong" }, wantErr: sfmc.ErrInvalidCredentials},
		{name: "wrong account", opts: []sfmctest.ServerOption{sfmctest.WithAccountID("1")},
			mutate: func(c *sfmc.Config) { c.AccountID = "2" }, wantErr: sfmc.ErrInvalidCredentials},
		{name: "ip rejected", opts: []sfmctest.ServerOption{sfmctest.WithIPAllowlistRejection()}, wantErr: sfmc.ErrIPNotAllowlisted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sfmctest.NewServer(tt.opts...)
			t.Cleanup(srv.Close)
			cfg := srv.Config()
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			c, err := sfmc.NewClient(cfg, srv.ClientOptions()...)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = c.Verify(ctx)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, int64(1), srv.Stats().TokensIssued)
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, tt.wantErr), "got %v", err)
			assert.Zero(t, srv.Stats().TokensIssued)
		})
	}
}

func TestClientRejectIPToggle(t *testing.T) {
	t.Parallel()
	srv := sfmctest.NewServer()
	t.Cleanup(srv.Close)
	srv.RejectIP(true)
	c, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	require.NoError(t, err)
	err = c.Verify(context.Background())
	require.ErrorIs(t, err, sfmc.ErrIPNotAllowlisted)
	assert.Contains(t, err.Error(), "allowlist")
}
