// Command zincsearch-es runs ZincSearch v0.4.10 with only its
// Elasticsearch-compatible API (under /es), as a development and test
// stand-in for Elasticsearch. See README.md.
//
// It is configured through ZINC_* environment variables (run it with -h for
// the list); the command line and the environment are handled by package
// early before Zinc's own package init functions run.
package main

import (
	// Its init fixes the environment before Zinc's package init functions
	// read it (see the package comment for why it runs first).
	_ "github.com/logagent/logagent/tools/zincsearch/internal/early"

	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog/log"

	"github.com/zincsearch/zincsearch/pkg/auth"
	"github.com/zincsearch/zincsearch/pkg/config"
	"github.com/zincsearch/zincsearch/pkg/core"
	"github.com/zincsearch/zincsearch/pkg/handlers/document"
	"github.com/zincsearch/zincsearch/pkg/handlers/index"
	"github.com/zincsearch/zincsearch/pkg/handlers/search"
	"github.com/zincsearch/zincsearch/pkg/meta"
	"github.com/zincsearch/zincsearch/pkg/meta/elastic"
	"github.com/zincsearch/zincsearch/pkg/metadata"
	"github.com/zincsearch/zincsearch/pkg/zutils"
)

// shutdownTimeout bounds how long in-flight requests may run after SIGTERM
// or SIGINT before the indexes and the metadata store are closed.
const shutdownTimeout = 10 * time.Second

func main() {
	// internal/early forced these off before Zinc read them; make sure.
	if config.Global.TelemetryEnable || config.Global.SentryEnable || config.Global.ProfilerEnable {
		fmt.Fprintln(os.Stderr, "zincsearch-es: telemetry, Sentry or profiler still enabled; refusing to start")
		os.Exit(1)
	}

	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/healthz", meta.GetHealthz)
	r.GET("/version", meta.GetVersion)
	mountES(r)

	addr := net.JoinHostPort(config.Global.ServerAddress, config.Global.ServerPort)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zincsearch-es: listen: %v\n", err)
		closeStores()
		os.Exit(1)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info().Msgf("zincsearch-es %s listening on %s, data in %s", meta.Version, ln.Addr(), config.Global.DataPath)

	// A test harness gives the server a pipe as stdin and keeps the write
	// end: when the harness dies, however it dies, the pipe closes and the
	// server stops instead of lingering as an orphan.
	stdinEOF := make(chan struct{})
	if v, _ := strconv.ParseBool(os.Getenv("ZINC_STOP_ON_STDIN_EOF")); v {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stdinEOF)
		}()
	}

	select {
	case err := <-served:
		fmt.Fprintf(os.Stderr, "zincsearch-es: serve: %v\n", err)
		closeStores()
		os.Exit(1)
	case <-sig:
	case <-stdinEOF:
		log.Info().Msg("stdin closed; shutting down")
	}
	// A second signal exits at once.
	go func() {
		<-sig
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn().Err(err).Msg("http shutdown")
	}
	if !closeStores() {
		os.Exit(1)
	}
}

// closeStores closes every open index (flushing what the WAL consumer has
// taken in) and then the metadata store, which Zinc's own main does on
// shutdown too. It reports whether both closed cleanly.
func closeStores() bool {
	ok := true
	if err := core.ZINC_INDEX_LIST.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "zincsearch-es: close indexes: %v\n", err)
		ok = false
	}
	if err := metadata.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "zincsearch-es: close metadata: %v\n", err)
		ok = false
	}
	return ok
}

// route is one endpoint of the /es API. perm is the Zinc permission name a
// user's role needs ("" for the unauthenticated info endpoints); esHeader
// adds the X-Elastic-Product header that some Elasticsearch clients check.
type route struct {
	method, path, perm string
	esHeader           bool
	handler            gin.HandlerFunc
	// alias resolves an alias in :target to its indexes first.
	alias bool
}

// esRoutes lists the Elasticsearch-compatible endpoints ZincSearch v0.4.10
// serves, with the same handlers and permission names as Zinc's own router
// (pkg/routes), which cannot be imported: it embeds the web UI, which the
// module zip lacks.
func esRoutes() []route {
	info := func(c *gin.Context) { zutils.GinRenderJSON(c, http.StatusOK, elastic.NewESInfo(c)) }
	return []route{
		// Cluster information: no credentials, like Zinc.
		{method: http.MethodGet, path: "/", esHeader: true, handler: info},
		{method: http.MethodHead, path: "/", esHeader: true, handler: info},
		{method: http.MethodGet, path: "/_license", esHeader: true, handler: func(c *gin.Context) {
			zutils.GinRenderJSON(c, http.StatusOK, elastic.NewESLicense(c))
		}},
		{method: http.MethodGet, path: "/_xpack", esHeader: true, handler: func(c *gin.Context) {
			zutils.GinRenderJSON(c, http.StatusOK, elastic.NewESXPack(c))
		}},

		// Search.
		{http.MethodPost, "/_search", "search.SearchDSL", true, search.SearchDSL, true},
		{http.MethodPost, "/_msearch", "search.MultipleSearch", true, search.MultipleSearch, true},
		{http.MethodPost, "/:target/_search", "search.SearchDSL", true, search.SearchDSL, true},
		{http.MethodPost, "/:target/_msearch", "search.MultipleSearch", true, search.MultipleSearch, true},
		{http.MethodPost, "/:target/_delete_by_query", "search.DeleteByQuery", false, search.DeleteByQuery, true},

		// Composable index templates and data streams.
		{http.MethodGet, "/_index_template", "index.ListTemplate", true, index.ListTemplate, false},
		{http.MethodPost, "/_index_template", "index.CreateTemplate", true, index.CreateTemplate, false},
		{http.MethodPut, "/_index_template/:target", "index.CreateTemplate", true, index.CreateTemplate, false},
		{http.MethodGet, "/_index_template/:target", "index.GetTemplate", true, index.GetTemplate, false},
		{http.MethodHead, "/_index_template/:target", "index.GetTemplate", true, index.GetTemplate, false},
		{http.MethodDelete, "/_index_template/:target", "index.DeleteTemplate", true, index.DeleteTemplate, false},
		{http.MethodPut, "/_data_stream/:target", "elastic.PutDataStream", true, elastic.PutDataStream, false},
		{http.MethodGet, "/_data_stream/:target", "elastic.GetDataStream", true, elastic.GetDataStream, false},
		{http.MethodHead, "/_data_stream/:target", "elastic.GetDataStream", true, elastic.GetDataStream, false},

		// Indexes, mappings, settings, analysis, aliases.
		{http.MethodPut, "/:target", "index.CreateES", true, index.CreateES, false},
		{http.MethodHead, "/:target", "index.Exists", true, index.Exists, false},
		// Zinc's own index delete (upstream at /api/index/:target), so index
		// retention can be tested here. It answers {"message":"deleted"}
		// instead of {"acknowledged":true}, 400 for a missing index, and takes
		// wildcards.
		{http.MethodDelete, "/:target", "index.Delete", true, index.Delete, false},
		{http.MethodGet, "/:target/_mapping", "index.GetESMapping", true, index.GetESMapping, false},
		{http.MethodPut, "/:target/_mapping", "index.SetMapping", true, index.SetMapping, false},
		{http.MethodGet, "/:target/_settings", "index.GetSettings", true, index.GetSettings, false},
		{http.MethodPut, "/:target/_settings", "index.SetSettings", true, index.SetSettings, false},
		{http.MethodPost, "/_analyze", "index.Analyze", true, index.Analyze, false},
		{http.MethodPost, "/:target/_analyze", "index.Analyze", true, index.Analyze, false},
		{http.MethodPost, "/_aliases", "index.AddOrRemoveESAlias", true, index.AddOrRemoveESAlias, false},
		{http.MethodGet, "/_alias", "index.GetESAliases", true, index.GetESAliases, false},
		{http.MethodGet, "/:target/_alias", "index.GetESAliases", true, index.GetESAliases, false},
		{http.MethodGet, "/_alias/:target_alias", "index.GetESAliases", true, index.GetESAliases, false},
		{http.MethodPost, "/:target/_refresh", "index.Refresh", false, index.Refresh, false},

		// Documents.
		{http.MethodPost, "/_bulk", "document.ESBulk", true, document.ESBulk, false},
		{http.MethodPost, "/:target/_bulk", "document.ESBulk", true, document.ESBulk, false},
		{http.MethodPut, "/:target/_bulk", "document.ESBulk", true, document.ESBulk, false},
		{http.MethodPost, "/:target/_doc", "document.CreateUpdate", true, document.CreateUpdate, false},
		{http.MethodPut, "/:target/_doc/:id", "document.CreateUpdate", true, document.CreateUpdate, false},
		{http.MethodPut, "/:target/_create/:id", "document.CreateUpdate", true, document.CreateUpdate, false},
		{http.MethodPost, "/:target/_create/:id", "document.CreateUpdate", true, document.CreateUpdate, false},
		{http.MethodPost, "/:target/_update/:id", "document.Update", true, document.Update, false},
		{http.MethodDelete, "/:target/_doc/:id", "document.Delete", true, document.Delete, false},
	}
}

// mountES registers esRoutes under /es.
func mountES(r *gin.Engine) {
	es := r.Group("/es")
	for _, rt := range esRoutes() {
		var chain []gin.HandlerFunc
		if rt.perm != "" {
			chain = append(chain, requirePermission(rt.perm))
		}
		if rt.esHeader {
			chain = append(chain, markElasticsearch)
		}
		if rt.alias {
			chain = append(chain, resolveAlias)
		}
		chain = append(chain, rt.handler)
		es.Handle(rt.method, rt.path, chain...)
	}
}

// requirePermission checks HTTP basic credentials against Zinc's users
// (the first admin user comes from ZINC_FIRST_ADMIN_USER/PASSWORD) and
// the role's permissions; admin may do everything.
func requirePermission(perm string) gin.HandlerFunc {
	auth.AddPermission(perm) // lets non-admin roles be granted it
	return func(c *gin.Context) {
		name, pass, ok := c.Request.BasicAuth()
		if !ok {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"auth": "Missing credentials"})
			return
		}
		u, ok := auth.VerifyCredentials(name, pass)
		if !ok {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"auth": "Invalid credentials"})
			return
		}
		if !auth.VerifyRoleHasPermission(u.Role, perm) {
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "No permission:" + perm})
			return
		}
		c.Next()
	}
}

// markElasticsearch sets the product header official Elasticsearch clients
// (7.14 and later) insist on.
func markElasticsearch(c *gin.Context) {
	c.Header("X-Elastic-Product", "Elasticsearch")
}

// resolveAlias replaces an alias in the :target path parameter by the
// comma-separated names of its indexes.
func resolveAlias(c *gin.Context) {
	for i := range c.Params {
		if c.Params[i].Key != "target" || c.Params[i].Value == "" {
			continue
		}
		if names, ok := core.ZINC_INDEX_ALIAS_LIST.GetIndexesForAlias(c.Params[i].Value); ok && len(names) > 0 {
			c.Params[i].Value = strings.Join(names, ",")
		}
		break
	}
	c.Next()
}
