// Command budget-reset is the scheduled period-close job (EventBridge Scheduler):
// it returns expired reservations and writes closed days into the usage ledger.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tollgate/tollgate/shared/app"
)

func main() {
	a, err := app.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		os.Exit(1)
	}
	lambda.Start(a.CloseJob())
}
