package kmssign

import (
	"encoding/json"

	"github.com/authkit/lambda-auth/shared/token"
)

// Document builds the JWKS of keys, each with kid, alg and use "sig".
func Document(keys []Key) ([]byte, error) {
	doc := token.JWKS{Keys: make([]token.JWK, 0, len(keys))}
	for _, k := range keys {
		j, err := token.PublicJWK(k.Key)
		if err != nil {
			return nil, err
		}
		j.Kid, j.Alg, j.Use = k.KID, k.Alg, "sig"
		doc.Keys = append(doc.Keys, j)
	}
	return json.Marshal(doc)
}
