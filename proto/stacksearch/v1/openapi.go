package stacksearchv1

import _ "embed" // for OpenAPI

// OpenAPI is the OpenAPI 2.0 (Swagger) document of the REST API,
// stacksearch.swagger.json, which protoc-gen-openapiv2 generates from the
// .proto files (make generate). searchd serves it at /openapi.json.
//
//go:embed stacksearch.swagger.json
var OpenAPI []byte
