/**
 * The web app's entry point (scripts/build.mjs bundles it, with the SDK's source,
 * into app.js). Everything on screen is built with DOM calls and `textContent`, so
 * the page runs under its content security policy; `app.ts` says how the screens
 * fit together.
 */

import { startApp } from "./app.js";
import "./pwa.js";
// Feature screens that hook into every room through addons.ts.
import "./schedules.js";
import "./retention.js";

startApp();
