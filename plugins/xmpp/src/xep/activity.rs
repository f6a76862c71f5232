//! XEP-0108 user activity, which xmpp-parsers lacks: `<activity/>` with a
//! general and an optional specific activity, and an optional text.

use xmpp_parsers::minidom::Element;

pub const NS: &str = "http://jabber.org/protocol/activity";

/// A user activity. An empty `general` is the "stop publishing" form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Activity {
    pub general: String,
    pub specific: Option<String>,
    pub text: Option<String>,
}

/// The general activities XEP-0108 defines.
const GENERAL: &[&str] = &[
    "doing_chores",
    "drinking",
    "eating",
    "exercising",
    "grooming",
    "having_appointment",
    "inactive",
    "relaxing",
    "talking",
    "traveling",
    "undefined",
    "working",
];

/// Why an activity element or value is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActivityError {
    #[error("`{0}` is not a XEP-0108 general activity")]
    UnknownGeneral(String),
    #[error("`{0}` is not a valid specific activity name")]
    BadSpecific(String),
    #[error("not an <activity xmlns='{NS}'/> element")]
    NotActivity,
}

impl Activity {
    pub fn validate(&self) -> Result<(), ActivityError> {
        if !self.general.is_empty() && !GENERAL.contains(&self.general.as_str()) {
            return Err(ActivityError::UnknownGeneral(self.general.clone()));
        }
        if let Some(s) = &self.specific {
            let ok = !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if !ok {
                return Err(ActivityError::BadSpecific(s.clone()));
            }
        }
        Ok(())
    }

    pub fn to_element(&self) -> Element {
        let mut activity = Element::builder("activity", NS);
        if !self.general.is_empty() {
            let mut general = Element::builder(self.general.as_str(), NS);
            if let Some(specific) = &self.specific {
                general = general.append(Element::builder(specific.as_str(), NS).build());
            }
            activity = activity.append(general.build());
        }
        if let Some(text) = &self.text {
            activity = activity.append(Element::builder("text", NS).append(text.as_str()).build());
        }
        activity.build()
    }

    pub fn from_element(element: &Element) -> Result<Activity, ActivityError> {
        if !element.is("activity", NS) {
            return Err(ActivityError::NotActivity);
        }
        let mut activity = Activity::default();
        for child in element.children().filter(|c| c.ns() == NS) {
            if child.name() == "text" {
                activity.text = Some(child.text());
            } else if activity.general.is_empty() {
                activity.general = child.name().to_owned();
                activity.specific = child.children().next().map(|s| s.name().to_owned());
            }
        }
        activity.validate()?;
        Ok(activity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_on_the_phone() {
        let a = Activity {
            general: "talking".into(),
            specific: Some("on_the_phone".into()),
            text: Some("On the phone".into()),
        };
        let e = a.to_element();
        assert_eq!(
            String::from(&e),
            "<activity xmlns='http://jabber.org/protocol/activity'><talking><on_the_phone/></talking><text>On the phone</text></activity>"
        );
        assert_eq!(Activity::from_element(&e).unwrap(), a);
    }

    #[test]
    fn empty_is_the_retract_form_and_junk_is_refused() {
        let e = Activity::default().to_element();
        assert_eq!(Activity::from_element(&e).unwrap(), Activity::default());
        let bad: Element =
            "<activity xmlns='http://jabber.org/protocol/activity'><dancing/></activity>"
                .parse()
                .unwrap();
        assert_eq!(
            Activity::from_element(&bad),
            Err(ActivityError::UnknownGeneral("dancing".into()))
        );
        let other: Element = "<mood xmlns='http://jabber.org/protocol/mood'/>"
            .parse()
            .unwrap();
        assert_eq!(
            Activity::from_element(&other),
            Err(ActivityError::NotActivity)
        );
    }
}
