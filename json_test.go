package sfmc

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONArrayEach(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []string
	}{
		{`null`, nil},
		{`[]`, nil},
		{`[ ]`, nil},
		{`[1]`, []string{`1`}},
		{`[ 1 , "a" ,true,null ]`, []string{`1`, `"a"`, `true`, `null`}},
		{`[{"a":[1,2,{"b":"]"}]},[[]],"x\"],{"]`, []string{`{"a":[1,2,{"b":"]"}]}`, `[[]]`, `"x\"],{"`}},
		{"[\n\t{\"k\": \"v\\\\\"}\n]", []string{`{"k": "v\\"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			var v struct {
				A jsonArray `json:"a"`
			}
			require.NoError(t, json.Unmarshal([]byte(`{"a":`+tc.in+`}`), &v))
			var got []string
			n, err := v.A.each(100, func(e []byte) error {
				got = append(got, string(e))
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, len(tc.want), n)
			assert.Equal(t, tc.want, got)
			// Every element is valid JSON on its own.
			for _, e := range got {
				assert.True(t, json.Valid([]byte(e)), e)
			}
		})
	}
	var v struct {
		A jsonArray `json:"a"`
	}
	assert.Error(t, json.Unmarshal([]byte(`{"a":{}}`), &v), "not an array")
	require.NoError(t, json.Unmarshal([]byte(`{"a":[1,2,3,4,5]}`), &v))
	calls := 0
	n, err := v.A.each(2, func([]byte) error { calls++; return nil })
	require.NoError(t, err)
	assert.Equal(t, 5, n, "counts every element")
	assert.Equal(t, 2, calls, "decodes only up to the limit")
}

func TestAnswersCapTheirMessages(t *testing.T) {
	t.Parallel()
	msgs := make([]string, 250)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"resultMessage":"problem %d"}`, i)
	}
	_, err := decodeContactResult("K", []byte(`{"operationStatus":"FAIL","resultMessages":[`+strings.Join(msgs, ",")+`]}`))
	var ce *ContactError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Messages, maxMessages+1)
	assert.Equal(t, "problem 99", ce.Messages[maxMessages-1].Message)
	assert.Equal(t, "... and 150 more result messages", ce.Messages[maxMessages].Message)

	add := make([]string, 120)
	for i := range add {
		add[i] = fmt.Sprintf(`{"message":"bad %d"}`, i)
	}
	err = decodeAPIError(400, "PATCH", "https://h/p", []byte(`{"message":"Aggregate","errorcode":10006,"additionalErrors":[`+strings.Join(add, ",")+`]}`), "", 0)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Len(t, ae.AdditionalErrors, maxMessages+1)
	assert.Equal(t, "... and 20 more", ae.AdditionalErrors[maxMessages])
}
