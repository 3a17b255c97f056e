// Deployment settings of the web app. This file is the only one to change
// when hosting the app as static files (see README, "Web app"):
//   apiBaseUrl: the API's base URL including the stage, e.g.
//               "https://abc123.execute-api.eu-west-1.amazonaws.com/prod".
//               Empty: the page's own origin (the local gateway, `make run`).
// A `?api=<url>` query parameter overrides it for one visit.
export default {
  apiBaseUrl: "",
};
