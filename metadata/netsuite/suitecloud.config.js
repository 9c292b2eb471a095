// SuiteCloud CLI project settings: `suitecloud project:deploy` from this directory deploys src/.
module.exports = {
	defaultProjectFolder: 'src',
	commands: {},
};
