package sfmc

import "encoding/json"

// jsonUnmarshalLenient decodes body into v, ignoring an empty body.
func jsonUnmarshalLenient(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	return json.Unmarshal(body, v)
}
