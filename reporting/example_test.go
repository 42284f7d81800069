package reporting_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/picketnet/picket/reporting"
)

// An application reports its failures only when its user agreed.
func Example() {
	userAgreed := os.Getenv("MYAPP_REPORT_NETWORK_ERRORS") == "1"
	agent, err := reporting.New(reporting.Config{
		Enabled: userAgreed,
		Collectors: []string{
			"https://collector.picket-a.example/v1/reports/nel?endpoint=checkout-api",
			"https://collector.picket-b.example.net/v1/reports/nel?endpoint=checkout-api",
		},
		QueueDir: filepath.Join(os.TempDir(), "myapp-nel"),
		Product:  "checkout-cli",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go agent.Run(ctx)
	defer agent.Close()

	client := &http.Client{Transport: agent.Wrap(http.DefaultTransport)}
	_ = client // use it for the application's requests
}
