use cairn_conformance::*;
