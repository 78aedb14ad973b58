package plugins

import (
	"fmt"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
)

// config decodes the built-in plugins (and lists them for the Admin API's
// plugins/list); the table builds them: both must name the same plugins.
func TestTableMatchesConfig(t *testing.T) {
	var names []string
	for _, b := range Builtins {
		names = append(names, b.Name)
		if b.Phase != config.PhaseRewrite && b.Phase != config.PhaseAccess {
			t.Errorf("%s: phase %q", b.Name, b.Phase)
		}
	}
	if got, want := fmt.Sprint((&config.Main{}).PluginNames()), fmt.Sprint(names); got != want {
		t.Errorf("config's built-in plugins %s, table %s", got, want)
	}
}
