// Package deploy holds no code: it is the production deployment assets
// (docker-compose.yml, Dockerfile, example configs, Kibana saved objects)
// and the tests that check them, since neither Docker nor Kibana runs where
// the tests do.
package deploy
