package sigv4

// Credentials looks up the secret of a client access key.
type Credentials interface {
	Secret(accessKey string) (secret string, ok bool)
}

// StaticCredentials is a fixed access key -> secret map.
type StaticCredentials map[string]string

// Secret implements Credentials.
func (s StaticCredentials) Secret(ak string) (string, bool) { v, ok := s[ak]; return v, ok }
