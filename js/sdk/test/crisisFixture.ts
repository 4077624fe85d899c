/** The crisis lines a test relay is configured with (its `[[crisis]]` TOML). */
export const CRISIS_TOML = `
[[crisis]]
name = "Samaritans"
regions = ["GB", "IE"]
phone = "116 123"
hours = "24/7"

[[crisis]]
name = "988 Suicide & Crisis Lifeline"
regions = ["US"]
phone = "988"
sms = "988"

[[crisis]]
name = "Befrienders Worldwide"
regions = ["*"]
url = "https://befrienders.org"
description = "Find a helpline in your country."
`;
