"""One router per concern: prediction, timelines, health, the page."""
