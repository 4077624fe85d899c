/**
 * What a push shows: the same neutral words every time (docs/security.md, "Push").
 *
 * A push carries nothing (the relay sends an empty body), so there is nothing to show
 * but that something happened. The words name no room, no sender, no text, and not
 * even the kind of app beyond what the browser itself prints (the site or the
 * installed app's name): a notification is read on a lock screen, by whoever holds
 * the phone.
 */

export const NOTIFICATION_TITLE = "New activity";
export const NOTIFICATION_BODY = "Open the app to see it.";
/** One notification at a time: a second push replaces the first instead of piling up. */
export const NOTIFICATION_TAG = "activity";
